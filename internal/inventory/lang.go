package inventory

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path"
	"strings"
)

// readNPM reads an installed npm package's package.json (node_modules/<name>/package.json).
func readNPM(r io.Reader) []Package {
	var m struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if json.NewDecoder(r).Decode(&m) != nil || m.Name == "" || m.Version == "" {
		return nil
	}
	ns, name := "", m.Name
	if scope, n, ok := strings.Cut(m.Name, "/"); ok && strings.HasPrefix(scope, "@") {
		ns, name = scope, n
	}
	return []Package{{Name: m.Name, Version: m.Version, Ecosystem: "npm", PURL: purl("npm", ns, name, m.Version)}}
}

// readPython reads an installed Python distribution's metadata (*.dist-info/METADATA or
// *.egg-info/PKG-INFO): the Name and Version headers before the first blank line.
func readPython(r io.Reader) []Package {
	var name, version string
	sc := bufio.NewScanner(r)
	for sc.Scan() && sc.Text() != "" {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.ToLower(key) {
		case "name":
			name = strings.TrimSpace(value)
		case "version":
			version = strings.TrimSpace(value)
		}
	}
	if name == "" || version == "" {
		return nil
	}
	return []Package{{Name: name, Version: version, Ecosystem: "PyPI", PURL: purl("pypi", "", pypiNormalize(name), version)}}
}

// pypiNormalize is a project name as PyPI compares them: lower case, runs of "-", "_", "." as one "-".
func pypiNormalize(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		if c == '-' || c == '_' || c == '.' {
			dash = true
			continue
		}
		if dash && b.Len() > 0 {
			b.WriteByte('-')
		}
		dash = false
		b.WriteRune(c)
	}
	return b.String()
}

// readJava reads a Java archive (jar, war, ear) into memory, bounded by maxArchive, and returns the
// Maven artifacts its pom.properties files name, those of the archives nested in it (a Spring Boot
// jar's BOOT-INF/lib, a war's WEB-INF/lib) included, one level deep.
func readJava(r io.Reader) ([]Package, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxArchive))
	if err != nil {
		return nil, err
	}
	budget := int64(maxInflated)
	return javaArchive(b, 1, &budget)
}

// maxInflated bounds what the entries an archive's reading opens (its nested archives' included) inflate
// to: a few MiB of deflated zeros are many GiB. Real archives inflate to a few times their size.
const maxInflated = 4 * maxArchive

var errInflated = errors.New("the archive inflates to more than a scan reads")

// javaArchive reads the archive b, opening entries whose sizes (which the zip reader holds them to) fit
// in what is left of budget.
func javaArchive(b []byte, depth int, budget *int64) ([]Package, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	var pkgs []Package
	var manifest *zip.File
	poms := 0
	for _, f := range zr.File {
		name := f.Name
		opened := (name == "META-INF/MANIFEST.MF" || path.Base(name) == "pom.properties" && strings.HasPrefix(name, "META-INF/maven/")) &&
			f.UncompressedSize64 <= maxManifest || depth > 0 && strings.HasSuffix(name, ".jar") && f.UncompressedSize64 <= maxArchive
		if opened {
			if f.UncompressedSize64 > uint64(*budget) {
				return pkgs, errInflated
			}
			*budget -= int64(f.UncompressedSize64)
		}
		switch {
		case name == "META-INF/MANIFEST.MF":
			manifest = f
		case path.Base(name) == "pom.properties" && strings.HasPrefix(name, "META-INF/maven/"):
			if p, ok := pomProperties(f); ok {
				pkgs = append(pkgs, p)
				poms++
			}
		case depth > 0 && strings.HasSuffix(name, ".jar") && f.UncompressedSize64 <= maxArchive:
			rc, err := f.Open()
			if err != nil {
				continue
			}
			inner, err := io.ReadAll(io.LimitReader(rc, maxArchive))
			rc.Close()
			if err != nil {
				continue
			}
			nested, err := javaArchive(inner, depth-1, budget)
			if errors.Is(err, errInflated) {
				return pkgs, err
			}
			if err == nil {
				pkgs = append(pkgs, nested...)
			}
		}
	}
	if poms == 0 && manifest != nil {
		if p, ok := manifestPackage(manifest); ok {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, nil
}

// manifestPackage names a jar built without Maven's pom.properties from its manifest, when the
// manifest gives a group (Implementation-Vendor-Id), an artifact (Implementation-Title) and a version:
// a guess from less is more often wrong than right.
func manifestPackage(f *zip.File) (Package, bool) {
	attrs, ok := readProperties(f, ":")
	g, a, v := attrs["Implementation-Vendor-Id"], attrs["Implementation-Title"], attrs["Implementation-Version"]
	if !ok || g == "" || a == "" || v == "" || strings.ContainsAny(g+a, " :/") {
		return Package{}, false
	}
	return Package{Name: g + ":" + a, Version: v, Ecosystem: "Maven", PURL: purl("maven", g, a, v)}, true
}

func pomProperties(f *zip.File) (Package, bool) {
	props, ok := readProperties(f, "=")
	g, a, v := props["groupId"], props["artifactId"], props["version"]
	if !ok || g == "" || a == "" || v == "" {
		return Package{}, false
	}
	return Package{Name: g + ":" + a, Version: v, Ecosystem: "Maven", PURL: purl("maven", g, a, v)}, true
}

// readProperties reads "key<sep>value" lines of a small file of an archive (pom.properties, a manifest).
func readProperties(f *zip.File, sep string) (map[string]string, bool) {
	if f.UncompressedSize64 > maxManifest {
		return nil, false
	}
	rc, err := f.Open()
	if err != nil {
		return nil, false
	}
	defer rc.Close()
	props := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(rc, maxManifest))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		if k, v, ok := strings.Cut(line, sep); ok {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return props, true
}
