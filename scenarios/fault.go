package scenarios

import "time"

// maxOccurrences bounds how many times one fault may occur, so that a tiny
// every cannot schedule millions of partitions.
const maxOccurrences = 1000

// Occurrences returns the start and end of each occurrence of f, as offsets
// from the start of the workload, clipped to timeLimit: no window starts at
// or after it and none ends past it.
//
// Times 0 means one occurrence without Every, and with Every as many as end
// by timeLimit (at least the first). A Fault from [Load] always has Times set
// and every occurrence ending by the time limit, so no window is clipped.
func (f Fault) Occurrences(timeLimit time.Duration) []Window {
	at, dur, every := time.Duration(f.At), time.Duration(f.Duration), time.Duration(f.Every)
	if at < 0 || dur <= 0 || at >= timeLimit {
		return nil
	}
	times := f.Times
	switch {
	case every <= 0:
		times = 1
	case times <= 0:
		times = max(1, fitting(at, dur, every, timeLimit))
	}
	var ws []Window
	for i := range times {
		start := at + time.Duration(i)*every
		if start >= timeLimit {
			break
		}
		ws = append(ws, Window{Start: start, End: min(start+dur, timeLimit)})
	}
	return ws
}

// fitting is how many occurrences starting at at, then every every, lasting
// dur each, end by timeLimit.
func fitting(at, dur, every, timeLimit time.Duration) int {
	if at+dur > timeLimit || every <= 0 {
		return 0
	}
	return int((timeLimit-at-dur)/every) + 1
}
