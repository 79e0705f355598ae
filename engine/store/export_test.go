package store

// WriteStats returns how many write transactions the store ran and how
// many pages they wrote, for the benchmarks' per-event figures.
func (s *Store) WriteStats() (txns, pages int64) {
	st := s.db.Stats()
	return s.txns.Load(), st.TxStats.GetWrite()
}
