package registry

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

// FormatPolicyText is a valid repository policy's text as ECR keeps and returns it: the JSON laid out again,
// members in their order, each on a line of its own indented by two spaces per level, " : " between name and
// value, arrays on one line ("[ a, b ]", objects in them opening on that line). Text that is not JSON is
// returned as it is.
func FormatPolicyText(text string) string {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var b strings.Builder
	if err := formatValue(&b, dec, 0); err != nil {
		return text
	}
	if _, err := dec.Token(); err != io.EOF {
		return text
	}
	return b.String()
}

func formatValue(b *strings.Builder, dec *json.Decoder, level int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		n := 0
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return err
			}
			if n == 0 {
				b.WriteString("{")
			} else {
				b.WriteString(",")
			}
			b.WriteString("\n" + strings.Repeat("  ", level+1))
			writeJSONString(b, key.(string))
			b.WriteString(" : ")
			if err := formatValue(b, dec, level+1); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			b.WriteString("{ }")
		} else {
			b.WriteString("\n" + strings.Repeat("  ", level) + "}")
		}
		_, err = dec.Token()
		return err
	case json.Delim('['):
		b.WriteString("[")
		n := 0
		for dec.More() {
			if n > 0 {
				b.WriteString(",")
			}
			b.WriteString(" ")
			if err := formatValue(b, dec, level); err != nil {
				return err
			}
			n++
		}
		b.WriteString(" ]")
		_, err = dec.Token()
		return err
	}
	switch v := tok.(type) {
	case string:
		writeJSONString(b, v)
	case json.Number:
		b.WriteString(v.String())
	case bool:
		b.WriteString(map[bool]string{true: "true", false: "false"}[v])
	case nil:
		b.WriteString("null")
	}
	return nil
}

func writeJSONString(b *strings.Builder, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	b.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
