package ecrapi

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/pipeline"
)

// FuzzOneDecode feeds the same bytes to every operation and checks that what authorization evaluates —
// the targets resolved from the decoded input — is what a case-sensitive JSON parser that allows no
// duplicate member reads from those bytes: the repository, the registry, the names. A body such a parser
// would read otherwise must be refused.
func FuzzOneDecode(f *testing.F) {
	for _, s := range []string{
		`{"repositoryName":"prod","force":true}`,
		`{"repositoryName":"prod","force":true} x`,
		`{"repositoryName":"dev"}{"repositoryName":"prod"}`,
		`{"repositoryName":"dev","repositoryName":"prod"}`,
		`{"repositoryName":"dev","RepositoryName":"prod"}`,
		`{"RepositoryName":"prod"}`,
		`{"repositoryName":"shown","repo\u017fitoryName":"acted-on"}`,
		`{"repoſitoryName":"prod"}`,
		`{"regiſtryId":"111122223333","repositoryName":"app"}`,
		`{"repositoryName":"app","tags":[{"\u212aey":"k","Value":"v"}]}`,
		`{"registryId":"111122223333","repositoryName":"app"}`,
		`{"registryid":"111122223333","repositoryName":"app"}`,
		`{"repositoryNames":["a","b"],"registryId":"111122223333"}`,
		`{"resourceArn":"arn:aws:ecr:us-east-1:111122223333:repository/team/app","tags":[{"Key":"k","Value":"v"}]}`,
		`{"repositoryName":"app","tags":[{"Key":"a","key":"b","Value":"v"}]}`,
		`{"repositoryName":"app","imageIds":[{"imageTag":"x","imageTag":"y"}]}`,
		`[]`, `"x"`, `null`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	sort.Strings(names)
	h := &Handler{Region: "us-east-1"}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, name := range names {
			var out any
			op := ops[name](h, body, &out)
			in, err := op.Decode()
			if err != nil {
				continue
			}
			c := &pipeline.Call{RegistryID: "000000000000", Input: in}
			targets, err := op.Resolve(c)
			if err != nil {
				continue
			}
			var ref map[string]any // the reading of a case-sensitive parser
			if json.Unmarshal(body, &ref) != nil && len(strings.TrimSpace(string(body))) > 0 {
				t.Fatalf("%s: %q accepted but it is not a JSON object", name, body)
			}
			str := func(k string) string { s, _ := ref[k].(string); return s }
			wantRegistry := "000000000000"
			if r := str("registryId"); r != "" {
				wantRegistry = r
			}
			switch {
			case name == "DescribeRepositories":
				list, _ := ref["repositoryNames"].([]any)
				if len(list) == 0 {
					list = []any{""}
				}
				if len(targets) != len(list) {
					t.Fatalf("%s: %q: %d targets for %d names", name, body, len(targets), len(list))
				}
				for i, n := range list {
					if targets[i].Repository != n || targets[i].RegistryID != wantRegistry {
						t.Fatalf("%s: %q: target %+v, a parser reads %v in %s", name, body, targets[i], n, wantRegistry)
					}
				}
			case strings.HasSuffix(name, "Resource"):
				arn := str("resourceArn")
				if want := "arn:aws:ecr:us-east-1:" + targets[0].RegistryID + ":repository/" + targets[0].Repository; arn != want {
					t.Fatalf("%s: %q: target %+v, a parser reads %s", name, body, targets[0], arn)
				}
			case isRepositoryInput(in):
				if targets[0].Repository != str("repositoryName") || targets[0].RegistryID != wantRegistry || c.RegistryID != wantRegistry {
					t.Fatalf("%s: %q: target %+v in %s, a parser reads %q in %s", name, body, targets[0], c.RegistryID, str("repositoryName"), wantRegistry)
				}
			}
			if c.Input != in {
				t.Fatalf("%s: the call does not carry the decoded input", name)
			}
		}
	})
}

func isRepositoryInput(in any) bool { _, ok := in.(repositoryInput); return ok }
