// Package lifecycletest holds the worked examples of the ECR user guide's chapter "Amazon ECR Lifecycle
// Policies" as data: each repository's images with their tags and ages, the policy text, and the images the
// guide says are expired. The engine, the core and the API adapters are all tested against them.
package lifecycletest

import "time"

// Image is one image of an example repository.
type Image struct {
	Name    string   // the guide's name for it: "A", "B", …
	Tags    []string // its tag list
	DaysAgo int      // pushed this many days before the evaluation
}

// Example is one worked example.
type Example struct {
	Name    string
	Images  []Image
	Policy  string
	Expired []string // names of the images the guide expires, in push order
	// Rules gives the rulePriority that expires each expired image, by name.
	Rules map[string]int
}

// PushedAt is when an example image was pushed, relative to now. Images listed later in the guide were
// pushed later on the same day (a minute apart), so "pushed 1 day ago" twice still has an order.
func PushedAt(now time.Time, images []Image, i int) time.Time {
	return now.Add(-time.Duration(images[i].DaysAgo)*24*time.Hour + time.Duration(i)*time.Minute)
}

// untaggedImages are the repository of the two single-rule examples ("Filtering on Image Age" and
// "Filtering on Image Count"), which the guide gives without contents.
var untaggedImages = []Image{
	{Name: "A", DaysAgo: 20},
	{Name: "B", DaysAgo: 15},
	{Name: "C", Tags: []string{"v1"}, DaysAgo: 15},
	{Name: "D", DaysAgo: 14},
	{Name: "E", DaysAgo: 3},
}

var multipleRulesImages = []Image{
	{Name: "A", Tags: []string{"beta-1", "prod-1"}, DaysAgo: 10},
	{Name: "B", Tags: []string{"beta-2", "prod-2"}, DaysAgo: 9},
	{Name: "C", Tags: []string{"beta-3"}, DaysAgo: 8},
}

// Guide lists every worked example of the chapter, with its policy text as the guide prints it.
var Guide = []Example{
	{
		Name:   "filtering on image age",
		Images: untaggedImages,
		Policy: `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Expire images older than 14 days",
      "selection": {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 14
      },
      "action": {
        "type": "expire"
      }
    }
  ]
}`,
		// D was pushed exactly 14 days ago (and a few minutes later in the day): not older than 14 days.
		Expired: []string{"A", "B"},
		Rules:   map[string]int{"A": 1, "B": 1},
	},
	{
		Name:   "filtering on image count",
		Images: untaggedImages,
		Policy: `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Keep only one untagged image, expire all others",
      "selection": {
        "tagStatus": "untagged",
        "countType": "imageCountMoreThan",
        "countNumber": 1
      },
      "action": {
        "type": "expire"
      }
    }
  ]
}`,
		Expired: []string{"A", "B", "D"},
		Rules:   map[string]int{"A": 1, "B": 1, "D": 1},
	},
	{
		Name:   "multiple rules, example A",
		Images: multipleRulesImages,
		Policy: `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Rule 1",
      "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["prod"],
        "countType": "imageCountMoreThan",
        "countNumber": 1
      },
      "action": {
        "type": "expire"
      }
    },
    {
      "rulePriority": 2,
      "description": "Rule 2",
      "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["beta"],
        "countType": "imageCountMoreThan",
        "countNumber": 1
      },
      "action": {
        "type": "expire"
      }
    }
  ]
}`,
		Expired: []string{"A"},
		Rules:   map[string]int{"A": 1},
	},
	{
		Name:   "multiple rules, example B",
		Images: multipleRulesImages,
		Policy: `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Rule 1",
      "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["beta"],
        "countType": "imageCountMoreThan",
        "countNumber": 1
      },
      "action": {
        "type": "expire"
      }
    },
    {
      "rulePriority": 2,
      "description": "Rule 2",
      "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["prod"],
        "countType": "imageCountMoreThan",
        "countNumber": 1
      },
      "action": {
        "type": "expire"
      }
    }
  ]
}`,
		Expired: []string{"A", "B"},
		Rules:   map[string]int{"A": 1, "B": 1},
	},
	{
		Name: "multiple tags in a single rule, example A",
		Images: []Image{
			{Name: "A", Tags: []string{"alpha-1"}, DaysAgo: 12},
			{Name: "B", Tags: []string{"beta-1"}, DaysAgo: 11},
			{Name: "C", Tags: []string{"alpha-2", "beta-2"}, DaysAgo: 10},
			{Name: "D", Tags: []string{"alpha-3"}, DaysAgo: 4},
			{Name: "E", Tags: []string{"beta-3"}, DaysAgo: 3},
			{Name: "F", Tags: []string{"alpha-4", "beta-4"}, DaysAgo: 2},
		},
		Policy: `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Rule 1",
      "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["alpha", "beta"],
        "countType": "sinceImagePushed",
        "countNumber": 5,
        "countUnit": "days"
      },
      "action": {
        "type": "expire"
      }
    }
  ]
}`,
		Expired: []string{"C"},
		Rules:   map[string]int{"C": 1},
	},
	{
		Name: "multiple tags in a single rule, example B",
		Images: []Image{
			{Name: "A", Tags: []string{"alpha-1", "beta-1", "gamma-1"}, DaysAgo: 10},
			{Name: "B", Tags: []string{"alpha-2", "beta-2"}, DaysAgo: 9},
			{Name: "C", Tags: []string{"alpha-3", "beta-3", "gamma-2"}, DaysAgo: 8},
		},
		Policy: `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Rule 1",
      "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["alpha", "beta"],
        "countType": "imageCountMoreThan",
        "countNumber": 1
      },
      "action": {
        "type": "expire"
      }
    }
  ]
}`,
		Expired: []string{"A", "B"},
		Rules:   map[string]int{"A": 1, "B": 1},
	},
	{
		Name: "all images, example A",
		Images: []Image{
			{Name: "A", Tags: []string{"alpha-1"}, DaysAgo: 4},
			{Name: "B", Tags: []string{"beta-1"}, DaysAgo: 3},
			{Name: "C", DaysAgo: 2},
			{Name: "D", Tags: []string{"alpha-2"}, DaysAgo: 1},
		},
		Policy: `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Rule 1",
      "selection": {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 1
      },
      "action": {
        "type": "expire"
      }
    }
  ]
}`,
		Expired: []string{"A", "B", "C"},
		Rules:   map[string]int{"A": 1, "B": 1, "C": 1},
	},
	{
		Name: "all images, example B",
		Images: []Image{
			{Name: "A", Tags: []string{"alpha-1", "beta-1"}, DaysAgo: 4},
			{Name: "B", DaysAgo: 3},
			{Name: "C", Tags: []string{"alpha-2"}, DaysAgo: 2},
			{Name: "D", Tags: []string{"git hash"}, DaysAgo: 1},
			{Name: "E", DaysAgo: 1},
		},
		// As printed, including "countUnit": "day".
		Policy: `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Rule 1",
      "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["alpha"],
        "countType": "imageCountMoreThan",
        "countNumber": 1
      },
      "action": {
        "type": "expire"
      }
    },
    {
      "rulePriority": 2,
      "description": "Rule 2",
      "selection": {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "day",
        "countNumber": 1
      },
      "action": {
        "type": "expire"
      }
    },
    {
      "rulePriority": 3,
      "description": "Rule 3",
      "selection": {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 1
      },
      "action": {
        "type": "expire"
      }
    }
  ]
}`,
		Expired: []string{"A", "B", "D"},
		Rules:   map[string]int{"A": 1, "B": 2, "D": 3},
	},
}
