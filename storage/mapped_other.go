//go:build !linux

package storage

// ReleaseMapped does nothing here: see the Linux version.
func (s *Store) ReleaseMapped() (int64, error) { return 0, nil }
