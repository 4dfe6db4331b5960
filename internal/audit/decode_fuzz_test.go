package audit

import (
	"testing"

	"github.com/wharf-dev/wharf/internal/store"
)

// FuzzDecode: a chunk's data, however damaged, decodes or fails without panicking, and what decodes renders.
func FuzzDecode(f *testing.F) {
	b := newBatch()
	m := newMemo("us-east-1")
	for i := range 3 {
		c := pullCall()
		c.RequestID = []string{"", "not-a-uuid", "cb8c167e-0000-4000-8000-000000000000"}[i]
		e := entryOf(c, nil)
		if fl, ok := m.fieldsOf(&e, nil); ok {
			b.add(&fl)
		}
	}
	for _, c := range b.chunks("us-east-1") {
		f.Add(c.Data)
	}
	f.Add([]byte(chunkMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := Decode(&store.AuditChunk{Account: "123456789012", Data: data})
		if err != nil {
			return
		}
		for i := range events {
			events[i].AppendJSON(nil)
			events[i].Resources()
		}
	})
}
