// Package label names the values of the small typed enumerations the
// packages count by (drop reasons, verdicts, results): one bounds-checked
// lookup instead of a copy of it beside every table.
//
// It must never allocate or panic: a value past its table is "unknown".
package label
