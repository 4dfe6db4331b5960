package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
)

type inner struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type outer struct {
	Name  string            `json:"name"`
	Tags  []inner           `json:"tags"`
	Notes map[string]string `json:"notes"`
	Deep  *struct {
		Size int64 `json:"size"`
	} `json:"deep"`
}

func TestRefusesWhatParsersReadDifferently(t *testing.T) {
	for _, bad := range []string{
		`{"name":"a","name":"b"}`,                     // twice: Go keeps the last, others the first
		`{"name":"a","Name":"b"}`,                     // folds alike: Go takes both for name
		`{"Name":"b"}`,                                // Go takes it for name, a case-sensitive parser does not
		`{"naMe":"b"}`,                                //
		`{"nam\u0065":"a","name":"b"}`,                // an escape is the same name
		`{"tags":[{"Key":"a","key":"b"}]}`,            // in a nested struct
		`{"tags":[{"\u212aey":"a"}]}`,                 // Kelvin sign: folds to k
		`{"deep":{"size":1,"ſize":2}}`,                // long s: folds to s
		`{"notes":{"a":"1","a":"2"}}`,                 // a map's key twice
		`{"name":"a"} {"name":"b"}`,                   // a second value
		`{"name":"a"} x`,                              // trailing data
		`{"unknown":{"x":1,"x":2}}`,                   // twice, inside a member Wharf ignores
		`{"unknown":[{"x":1},{"y":[{"z":1,"z":2}]}]}`, // deep inside one
	} {
		var v outer
		if err := Decode([]byte(bad), &v); err == nil {
			t.Errorf("%s accepted as %+v", bad, v)
		}
	}
}

func TestAcceptsPlainJSON(t *testing.T) {
	var v outer
	err := Decode([]byte(`{"name":"a","tags":[{"Key":"k","Value":"v"},{"Key":"K","Value":"w"}],
		"notes":{"Name":"case is free in a map","name":"and distinct"},"deep":{"size":3},"other":{"Name":1,"name":2}}`), &v)
	if err != nil || v.Name != "a" || len(v.Tags) != 2 || v.Notes["Name"] == "" || v.Deep.Size != 3 {
		t.Fatalf("%+v %v", v, err)
	}
	if err := Decode([]byte("  "), &v); err != nil {
		t.Fatalf("empty: %v", err)
	}
	if err := Decode([]byte(`{"name":"x"}`+strings.Repeat(" ", 10)), &v); err != nil {
		t.Fatalf("trailing space: %v", err)
	}
}

// FuzzDecode: whatever Decode accepts, a case-sensitive reading of the same bytes (a map of exact
// member names) reads alike.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a","tags":[{"Key":"k","Value":"v"}]}`, `{"notes":{"a":"b"}}`, `{"deep":{"size":1}}`,
		`{"name":"a","Name":"b"}`, `{"tags":[{"Key":"a","\u212aey":"b"}]}`, `[]`, `1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v outer
		if Decode(data, &v) != nil {
			return
		}
		var ref map[string]any
		if json.Unmarshal(data, &ref) != nil {
			return // not an object: nothing was read into v by name
		}
		if name, _ := ref["name"].(string); name != v.Name {
			t.Fatalf("%q: read name %q, a case-sensitive parser %q", data, v.Name, name)
		}
		tags, _ := ref["tags"].([]any)
		for i, tag := range tags {
			m, _ := tag.(map[string]any)
			if k, _ := m["Key"].(string); i < len(v.Tags) && k != v.Tags[i].Key {
				t.Fatalf("%q: read tag key %q, a case-sensitive parser %q", data, v.Tags[i].Key, k)
			}
		}
	})
}
