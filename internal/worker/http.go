package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type httpServer struct {
	addr string // the bound address
	srv  *http.Server
	mon  *asynqmon.HTTPHandler
	done chan struct{}
}

// startHTTP serves /metrics, /healthz (the process answers), /readyz (Redis
// answers and the encoder probe is done) and, unless disabled, the asynqmon
// UI at /monitoring/, read-only by default.
func (w *Worker) startHTTP(connOpt asynq.RedisConnOpt) (*httpServer, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprintln(rw, "ok") })
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		switch {
		case w.encoders.Load() == nil:
			http.Error(rw, "encoder probe running", http.StatusServiceUnavailable)
		case w.draining.Load():
			http.Error(rw, "shutting down", http.StatusServiceUnavailable)
		default:
			if err := w.rdb.Ping(ctx).Err(); err != nil {
				http.Error(rw, "redis: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(rw, "ok")
		}
	})
	h := &httpServer{done: make(chan struct{})}
	if w.cfg.Monitoring {
		h.mon = asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: connOpt, ReadOnly: !w.cfg.MonitoringWritable})
		mux.Handle("/monitoring/", h.mon)
	}
	ln, err := net.Listen("tcp", w.cfg.HTTPAddr)
	if err != nil {
		if h.mon != nil {
			h.mon.Close()
		}
		return nil, fmt.Errorf("worker: listen %s: %w", w.cfg.HTTPAddr, err)
	}
	h.addr = ln.Addr().String()
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Error("http server", "err", err)
		}
	}()
	w.log.Info("http listening", "addr", h.addr)
	return h, nil
}

func (h *httpServer) shutdown(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	<-h.done
	if h.mon != nil {
		h.mon.Close()
	}
}
