// Package strictjson decodes JSON so that what Wharf reads is what any other parser reads from the same
// bytes: Go's decoder matches member names regardless of letter case (Unicode simple folding) and keeps
// the last of duplicate members, while others match exactly or keep the first. A document is refused if
// it gives a member twice, names a member of a struct in other letter case than its own, or has data
// after its value. Wharf decodes every request body and every manifest it stores this way, so a check
// made on one reading can never be bypassed by another.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// Decode decodes data into v after checking it is unambiguous. Empty data decodes to nothing.
func Decode(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := Check(data, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// Check walks data as a value of type t (a nil t takes any value) and refuses duplicate members,
// struct members named in other letter case than their own, and data after the value.
func Check(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walk(dec, t); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// walk reads one value of type t.
func walk(dec *json.Decoder, t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	switch d {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walk(dec, elem); err != nil {
				return err
			}
		}
	case '{':
		if err := walkObject(dec, t); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// walkObject reads the members of an object of type t: a struct's by their exact names, a map's or an
// unknown object's by any name, none twice.
func walkObject(dec *json.Decoder, t reflect.Type) error {
	var fields map[string]reflect.Type
	var elem reflect.Type
	switch {
	case t != nil && t.Kind() == reflect.Struct:
		fields = fieldsOf(t)
	case t != nil && t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	var seen []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name := tok.(string)
		for _, s := range seen {
			// A struct's decoder takes names that fold alike for one member; any decoder of a map or
			// an unknown object keeps only one of the same name.
			if s == name || fields != nil && strings.EqualFold(s, name) {
				return fmt.Errorf("member %q is given more than once", name)
			}
		}
		seen = append(seen, name)
		valueType := elem
		if fields != nil {
			ft, exact := fields[name]
			if !exact {
				for f := range fields {
					if strings.EqualFold(f, name) {
						return fmt.Errorf("unknown member %q", name)
					}
				}
			}
			valueType = ft
		}
		if err := walk(dec, valueType); err != nil {
			return err
		}
	}
	return nil
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// fieldsOf are the JSON member names of a struct, with the types of their values; the members of
// embedded structs are the struct's own.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && tag == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, v := range fieldsOf(ft) {
					m[n] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}
