package main

import (
	"flag"

	"github.com/abrfleet/abrfleet/internal/worker"
)

// redisFlags are the connection flags of submit, status and cancel, with the
// same ABRFLEET_* environment variables as `worker run`.
type redisFlags struct{ url, password, caFile string }

func (r *redisFlags) register(fs *flag.FlagSet) {
	d := worker.Default()
	fs.StringVar(&r.url, "redis-url", d.RedisURL, "Redis: redis://, rediss:// (TLS) or redis-sentinel://h1:p1,h2:p2/?master=NAME")
	fs.StringVar(&r.password, "redis-password", "", "Redis password, overriding the URL's")
	fs.StringVar(&r.caFile, "redis-tls-ca-file", "", "PEM CA bundle for Redis TLS (default: system roots)")
}

func (r *redisFlags) client() (*worker.Client, error) {
	return worker.NewClient(r.url, r.password, r.caFile)
}
