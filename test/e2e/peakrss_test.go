package e2e

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// mib formats KiB as MiB.
func mib(kib int64) string {
	if kib == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(kib)/1024)
}

// rssWatch follows the peak RSS (VmHWM) of the processes whose argument list holds a word: the
// sandbox runs a pod's container as a host process, so /proc shows it. Not a child's rusage:
// Go starts children sharing its memory until exec, and the kernel counts that in ru_maxrss.
type rssWatch struct {
	quit, done chan struct{}
	peaks      map[int]int64
}

func watchPeakRSS(word string) *rssWatch {
	w := &rssWatch{quit: make(chan struct{}), done: make(chan struct{}), peaks: map[int]int64{}}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			w.scan([]byte(word))
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *rssWatch) scan(word []byte) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(append([]byte{0}, cmdline...), append(append([]byte{0}, word...), 0)) {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				w.peaks[pid] = max(w.peaks[pid], kib)
			}
		}
	}
}

// stop ends the watch and returns the highest peak seen and how many processes were seen.
func (w *rssWatch) stop() (int64, int) {
	close(w.quit)
	<-w.done
	var peak int64
	for _, kib := range w.peaks {
		peak = max(peak, kib)
	}
	return peak, len(w.peaks)
}
