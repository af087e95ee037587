package nn

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// legacyFile builds a legacy torch.save file around the object pickle obj
// (protocol 2, ending in STOP), followed by a storage-keys pickle listing
// keys and the raw tail.
func legacyFile(obj []byte, keys []string, tail []byte) []byte {
	b := append([]byte{}, legacyMagic...)
	b = append(b, '.')
	b = append(b, 0x80, 0x02, 'M', 0xe9, 0x03, '.') // protocol version 1001
	b = append(b, 0x80, 0x02, '}', '.')             // system info: {}
	b = append(b, obj...)
	b = append(b, 0x80, 0x02, ']', '(')
	for _, k := range keys {
		b = append(b, 0x8c, byte(len(k)))
		b = append(b, k...)
	}
	b = append(b, 'e', '.')
	return append(b, tail...)
}

// storageDict pickles {"w": <storage key of numel elements>} as torch.save
// does, with the element count as an 8-byte LONG1.
func storageDict(key string, numel uint64) []byte {
	b := []byte{0x80, 0x02, '}', 0x8c, 1, 'w', '(', 0x8c, 7}
	b = append(b, "storage"...)
	b = append(b, "ctorch\nFloatStorage\n"...)
	b = append(b, 0x8c, byte(len(key)))
	b = append(b, key...)
	b = append(b, 0x8c, 3, 'c', 'p', 'u', 0x8a, 8)
	b = binary.LittleEndian.AppendUint64(b, numel)
	return append(b, 'N', 't', 'Q', 's', '.')
}

// zipFile builds a zip-format torch.save file from data.pkl and storage
// records.
func zipFile(t testing.TB, pkl []byte, records map[string][]byte) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	add := func(name string, b []byte) {
		f, err := w.CreateHeader(&zip.FileHeader{Name: "archive/" + name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(b)
	}
	add("data.pkl", pkl)
	for k, b := range records {
		add("data/"+k, b)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReadStateDictForgedLengths gives files whose length fields promise
// far more than they hold. gotch's unpickler would allocate what they
// promise, and an allocation the runtime cannot make ends the process;
// ReadStateDict must refuse them first.
func TestReadStateDictForgedLengths(t *testing.T) {
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	tail := binary.LittleEndian.AppendUint64(nil, 2)
	tail = append(tail, make([]byte, 8)...)
	for _, tc := range []struct {
		name string
		data []byte
		err  string
	}{
		{"bytes of 1 TiB", legacyFile(append(append([]byte{0x80, 0x02, 0x8e}, huge...), '.'), nil, nil), "runs past the end of the data"},
		{"frame of 1 TiB", legacyFile(append(append([]byte{0x80, 0x04, 0x95}, huge...), 'N', '.'), nil, nil), "runs past the end of the data"},
		{"storage of 2^40 elements", legacyFile(storageDict("0", 1<<40), []string{"0"}, tail), `storage "0" claims 1099511627776 elements`},
		{"element count of 2^40 in the data", legacyFile(storageDict("0", 2), []string{"0"}, append(huge, make([]byte, 8)...)), `storage "0": 1099511627776 elements in the data, 2 announced`},
		{"zip: storage of 2^40 elements", zipFile(t, storageDict("0", 1<<40), map[string][]byte{"0": make([]byte, 8)}), `storage "0" claims 1099511627776 elements`},
		{"zip: storage larger than its record", zipFile(t, storageDict("0", 3), map[string][]byte{"0": make([]byte, 8)}), `its record holds 8 bytes`},
		{"zip: storage without a record", zipFile(t, storageDict("0", 2), nil), `has no record`},
		{"truncated storage data", legacyFile(storageDict("0", 2), []string{"0"}, tail[:12]), "bytes left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "forged.pth")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadStateDict(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want one naming %s and saying %q", err, path, tc.err)
			}
		})
	}
	// The well-formed version of the same file reads.
	path := filepath.Join(t.TempDir(), "ok.pth")
	os.WriteFile(path, legacyFile(storageDict("0", 2), []string{"0"}, tail), 0o644)
	if _, err := ReadStateDict(path); err != nil && !strings.Contains(err.Error(), "not a tensor") {
		t.Fatalf("well-formed file: %v", err)
	}
}

// FuzzReadStateDict feeds arbitrary bytes to the state-dict reader (zip
// and legacy torch.save files). The seeds are the small fixtures in
// testdata, the forged files above and testdata/fuzz/FuzzReadStateDict.
// It may refuse a file but must not panic, hang or exhaust memory, and its
// error must name the file.
func FuzzReadStateDict(f *testing.F) {
	for _, name := range []string{"mixed_zip.pth", "mixed_legacy.pth"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	tail := binary.LittleEndian.AppendUint64(nil, 2)
	f.Add(legacyFile(storageDict("0", 2), []string{"0"}, append(tail, make([]byte, 8)...)))
	f.Add(legacyFile(storageDict("0", 1<<40), []string{"0"}, tail))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "sd.pth")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadStateDict(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for name, x := range got {
			if _, err := x.Size(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		dropAll(got)
	})
}
