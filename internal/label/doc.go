// Package label names the values of the small typed enumerations the
// packages count by (drop reasons, verdicts, results): one bounds-checked
// lookup instead of a copy of it beside every table, and one snapshot of
// the counters such a table indexes.
//
// It must never panic, and Of and Load never allocate: a value past its
// table is "unknown". (Counts builds a map: for scrapes, not frames.)
package label
