// Package inventory is what an image holds: its operating system and the packages installed in its final
// file system. It is an image's software bill of materials, kept once per image, against which the
// vulnerability database is matched (again, when the database changes) without reading the layers again.
package inventory

// Inventory is the content of one image.
type Inventory struct {
	OS       OS        `json:"os"`
	Packages []Package `json:"packages"`
}

// OS is the image's distribution, from /etc/os-release: ID "debian", VersionID "12"; ID "alpine",
// VersionID "3.19.1"; ID "rhel", VersionID "9.3". Empty when the image has none (a Go binary alone).
type OS struct {
	ID         string `json:"id,omitempty"`
	VersionID  string `json:"versionId,omitempty"`
	PrettyName string `json:"prettyName,omitempty"`
}

// Package is one installed package.
type Package struct {
	// Name and Version as installed: "libssl3", "3.0.11-1~deb12u2"; Go modules by module path.
	Name    string `json:"name"`
	Version string `json:"version"`
	// SourceName and SourceVersion are the source package the binary was built from, which the
	// distributions' advisories name ("openssl", "3.0.11-1~deb12u2"); empty when the same as Name/Version.
	SourceName    string `json:"sourceName,omitempty"`
	SourceVersion string `json:"sourceVersion,omitempty"`
	// Ecosystem is the OSV ecosystem the package's advisories are published under: "Debian:12",
	// "Ubuntu:22.04:LTS", "Ubuntu:23.10", "Alpine:v3.19", "Rocky Linux:9", "AlmaLinux:9", "Go", "npm",
	// "PyPI", "Maven"; for RHEL "Red Hat:enterprise_linux:9", a prefix of the advisories' product
	// streams ("Red Hat:enterprise_linux:9::appstream"); empty when the distribution has none.
	Ecosystem string `json:"ecosystem"`
	// PURL is the package URL (pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12).
	PURL string `json:"purl,omitempty"`
	// Arch is the package's architecture as its database names it ("amd64", "x86_64"), when it has one.
	Arch string `json:"arch,omitempty"`
	// Path is where in the image the package was found: the package database or the file.
	Path string `json:"path,omitempty"`
}

// AdvisoryName is the name advisories of the package's ecosystem use for it: the source package's for
// operating-system packages that have one, else its own.
func (p Package) AdvisoryName() string {
	if p.SourceName != "" {
		return p.SourceName
	}
	return p.Name
}

// AdvisoryVersion is the version advisories compare: the source package's when it has one.
func (p Package) AdvisoryVersion() string {
	if p.SourceVersion != "" {
		return p.SourceVersion
	}
	return p.Version
}
