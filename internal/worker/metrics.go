package worker

import (
	"errors"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/abrfleet/abrfleet/queue"
)

// metrics are the worker's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	jobs     *prometheus.CounterVec   // abrfleet_jobs_total{type,code}
	duration *prometheus.HistogramVec // abrfleet_job_duration_seconds{type,code}
	frames   *prometheus.CounterVec   // abrfleet_frames_encoded_total{type}
	active   *prometheus.GaugeVec     // abrfleet_active_jobs{type}
	fps      *prometheus.GaugeVec     // abrfleet_encode_fps{type,task_id}, deleted when the job ends
	encoders *prometheus.GaugeVec     // abrfleet_encoder_available{codec}
	crashes  prometheus.Counter       // abrfleet_transcoder_crashes_total
	// abrfleet_recovered_total{queue}: tasks this worker put back after their worker died.
	recovered *prometheus.CounterVec
	// abrfleet_outage_retries_total{type}: failed attempts retried without
	// counting against MaxRetry because storage was down (outage.go).
	outageRetries *prometheus.CounterVec
}

func newMetrics(insp *asynq.Inspector, log *slog.Logger) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "abrfleet_jobs_total",
			Help: "Job attempts by task type and result code (ok on success)."}, []string{"type", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "abrfleet_job_duration_seconds",
			Help:    "Wall time of job attempts, input fetch to publish.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 16)}, []string{"type", "code"}), // 0.5 s to ~4.5 h
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "abrfleet_frames_encoded_total",
			Help: "Source frames transcoded through every rung."}, []string{"type"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "abrfleet_active_jobs",
			Help: "Jobs running now."}, []string{"type"}),
		fps: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "abrfleet_encode_fps",
			Help: "Current speed of each running job in source frames per second."}, []string{"type", "task_id"}),
		encoders: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "abrfleet_encoder_available",
			Help: "1 when the startup probe opened the encoder on this host."}, []string{"codec"}),
		crashes: prometheus.NewCounter(prometheus.CounterOpts{Name: "abrfleet_transcoder_crashes_total",
			Help: "Transcode children that died without reporting (signal, panic)."}),
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "abrfleet_recovered_total",
			Help: "Tasks whose worker died, put back in their queue by this worker."}, []string{"queue"}),
		outageRetries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "abrfleet_outage_retries_total",
			Help: "Failed attempts retried without counting against max retries because storage was unavailable."}, []string{"type"}),
	}
	for _, t := range []string{"batch", "live"} {
		m.active.WithLabelValues(t)
		m.frames.WithLabelValues(t)
		m.outageRetries.WithLabelValues(t)
	}
	m.reg.MustRegister(m.jobs, m.duration, m.frames, m.active, m.fps, m.encoders, m.crashes, m.recovered, m.outageRetries,
		&queueCollector{insp: insp, log: log},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// queueCollector reads the queues' sizes from Redis at each scrape.
type queueCollector struct {
	insp *asynq.Inspector
	log  *slog.Logger
}

var (
	queueTasksDesc = prometheus.NewDesc("abrfleet_queue_tasks",
		"Tasks in each queue by state.", []string{"queue", "state"}, nil)
	queueLatencyDesc = prometheus.NewDesc("abrfleet_queue_latency_seconds",
		"Age of the oldest pending task of each queue.", []string{"queue"}, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueTasksDesc
	ch <- queueLatencyDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, q := range []string{queue.QueueLive, queue.QueueBatch} {
		info, err := c.insp.GetQueueInfo(q)
		if errors.Is(err, asynq.ErrQueueNotFound) {
			info = &asynq.QueueInfo{Queue: q} // never used yet: empty
		} else if err != nil {
			c.log.Warn("queue sizes", "queue", q, "err", err)
			continue
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed} {
			ch <- prometheus.MustNewConstMetric(queueTasksDesc, prometheus.GaugeValue, float64(n), q, state)
		}
		ch <- prometheus.MustNewConstMetric(queueLatencyDesc, prometheus.GaugeValue, info.Latency.Seconds(), q)
	}
}
