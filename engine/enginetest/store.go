package enginetest

import (
	"testing"

	"github.com/alexarules/alexarules/engine/store"
)

// Bucket reads every key of bucket in the data file at path, which no
// running engine may hold (e.g. what `alexarules login` stored in "auth").
func Bucket(t testing.TB, path, bucket string) map[string][]byte {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kv, err := st.List(bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	return kv
}
