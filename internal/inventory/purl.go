package inventory

import (
	"net/url"
	"strings"
)

// purl builds a package URL: pkg:type/namespace/name@version?qualifiers, with qualifiers given as
// key, value pairs (empty values left out).
func purl(typ, namespace, name, version string, qualifiers ...string) string {
	var b strings.Builder
	b.WriteString("pkg:")
	b.WriteString(typ)
	b.WriteByte('/')
	if namespace != "" && namespace != "." {
		for _, seg := range strings.Split(namespace, "/") {
			b.WriteString(escape(seg))
			b.WriteByte('/')
		}
	}
	b.WriteString(escape(name))
	if version != "" {
		b.WriteByte('@')
		b.WriteString(escape(version))
	}
	q := url.Values{}
	for i := 0; i+1 < len(qualifiers); i += 2 {
		if qualifiers[i+1] != "" {
			q.Set(qualifiers[i], qualifiers[i+1])
		}
	}
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String()
}

// purlEscaper escapes what url.PathEscape leaves and a purl's segments must not hold.
var purlEscaper = strings.NewReplacer(":", "%3A", "@", "%40")

func escape(s string) string {
	return purlEscaper.Replace(url.PathEscape(s))
}
