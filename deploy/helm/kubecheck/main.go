//go:build ignore

// Kubecheck decodes the Kubernetes objects of a YAML stream (helm template's output, on stdin) into their
// API types strictly: an unknown or repeated field, or a value of the wrong type, is an error, as in a
// strict apply. scripts/test-deploy.sh builds it in a module of its own, with client-go.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

func main() {
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	docs := yaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	n := 0
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(err)
		}
		if js, err := yaml.ToJSON(doc); err != nil {
			fail(err)
		} else if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue // comments only
		}
		_, gvk, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			fail(fmt.Errorf("object %d: %w", n+1, err))
		}
		fmt.Println("valid", gvk.Kind)
		n++
	}
	if n == 0 {
		fail(errors.New("no objects"))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kubecheck:", err)
	os.Exit(1)
}
