package transcode

import (
	"testing"
	"time"
)

func TestUDPURL(t *testing.T) {
	cases := []struct {
		name, in string
		idle     time.Duration
		want     string
	}{
		{"no query", "udp://239.0.0.1:1234", 30 * time.Second, "udp://239.0.0.1:1234?timeout=30000000"},
		{"query", "udp://239.0.0.1:1234?fifo_size=100000", 3 * time.Second, "udp://239.0.0.1:1234?fifo_size=100000&timeout=3000000"},
		{"submitter's timeout overridden", "udp://127.0.0.1:5000?timeout=1", time.Second, "udp://127.0.0.1:5000?timeout=1&timeout=1000000"},
		{"over FFmpeg's range", "udp://127.0.0.1:5000", time.Hour, "udp://127.0.0.1:5000?timeout=2147483647"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := udpURL(c.in, c.idle); got != c.want {
				t.Errorf("udpURL(%q, %v) = %q, want %q", c.in, c.idle, got, c.want)
			}
		})
	}
}
