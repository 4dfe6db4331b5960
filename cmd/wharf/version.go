package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3" ./cmd/wharf. Without it the
// module's version is used (go install …@v1.2.3), else "devel".
var version string

// storageBackends are the metadata and blob stores this binary can use.
var storageBackends = []string{"sqlite", "filesystem", "postgresql", "s3"}

// buildInfo is what `wharf version` reports.
type buildInfo struct {
	Version  string   `json:"version"`
	Commit   string   `json:"commit,omitempty"`
	Modified bool     `json:"modified,omitempty"` // the work tree had uncommitted changes
	Go       string   `json:"go"`
	Platform string   `json:"platform"`
	Storage  []string `json:"storage"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Storage: storageBackends}
	info, ok := debug.ReadBuildInfo()
	if ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

// String is the one-line form: wharf 1.2.3 (commit 0123abcd, modified) go1.26.8 linux/amd64, storage: ….
func (b buildInfo) String() string {
	var s strings.Builder
	s.WriteString("wharf " + b.Version)
	if b.Commit != "" {
		s.WriteString(" (commit " + b.Commit[:min(12, len(b.Commit))])
		if b.Modified {
			s.WriteString(", modified")
		}
		s.WriteString(")")
	}
	fmt.Fprintf(&s, " %s %s, storage: %s", b.Go, b.Platform, strings.Join(b.Storage, ", "))
	return s.String()
}

func versionCmd(args []string) error {
	fs := newFlagSet("version")
	asJSON := fs.Bool("json", false, "print the build information as a JSON object")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	b := readBuildInfo()
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(b)
	}
	fmt.Println(b)
	return nil
}
