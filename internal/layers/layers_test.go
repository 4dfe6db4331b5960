// Package layers holds the test that keeps Wharf's layers honest: the domain core and identity know no
// transport, the pipeline knows no transport, the protocol adapters reach storage only through the core,
// and no adapter leans on another.
package layers

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/wharf-dev/wharf/internal/"

// deps lists every package pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// imports lists the packages pkg imports itself.
func imports(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, module+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestCoreKnowsNoTransport(t *testing.T) {
	for _, pkg := range []string{"registry", "identity", "pipeline", "authz", "store", "blob", "iam", "lifecycle", "manifest"} {
		for _, d := range deps(t, pkg) {
			if d == "net/http" {
				t.Errorf("%s depends on net/http: the core, identity and the pipeline are transport-free", pkg)
			}
		}
	}
}

var adapters = []string{"oci", "ecrapi", "iamapi"}

func TestAdaptersGoThroughTheCore(t *testing.T) {
	for _, a := range adapters {
		for _, imp := range imports(t, a) {
			if imp == module+"store" || strings.HasPrefix(imp, module+"store/") || strings.HasPrefix(imp, module+"blob") {
				t.Errorf("%s imports %s: adapters reach storage only through the core", a, imp)
			}
			for _, other := range adapters {
				if other != a && imp == module+other {
					t.Errorf("%s imports the adapter %s", a, other)
				}
			}
		}
	}
}

func TestTheTestSeesImports(t *testing.T) { // the checks above would pass vacuously if go list saw nothing
	if !contains(imports(t, "ecrapi"), module+"registry") || !contains(deps(t, "server"), "net/http") {
		t.Fatal("go list does not report the imports the checks rely on")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
