package worker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// ParseRedis turns a Redis URL into asynq connection options, starting from
// asynq.ParseRedisURI and adding what it leaves out: the ACL user name, a
// password from outside the URL, a CA bundle for TLS, and for
// redis-sentinel:// the master's password, the database (db=N) and TLS
// (tls=1). Errors never repeat the password.
func ParseRedis(rawURL, password, caFile string) (asynq.RedisConnOpt, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("redis url: not a URL") // url.Parse's error would quote the password
	}
	bad := func(why string) (asynq.RedisConnOpt, error) {
		return nil, fmt.Errorf("redis url %s: %s", u.Redacted(), why)
	}
	opt, err := asynq.ParseRedisURI(rawURL)
	if err != nil {
		return bad(err.Error())
	}
	var tlsConf *tls.Config
	makeTLS := func(serverName string) error {
		tlsConf = &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
		if caFile == "" {
			return nil
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("redis TLS CA file: %w", err)
		}
		tlsConf.RootCAs = x509.NewCertPool()
		if !tlsConf.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("redis TLS CA file %s: no PEM certificates", caFile)
		}
		return nil
	}
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		if u.Host == "" && o.Network != "unix" {
			return bad("no host")
		}
		if o.Network != "unix" && u.User != nil {
			if _, hasPass := u.User.Password(); hasPass {
				o.Username = u.User.Username()
			}
		}
		if password != "" {
			o.Password = password
		}
		if o.TLSConfig != nil {
			if err := makeTLS(o.TLSConfig.ServerName); err != nil {
				return nil, err
			}
			o.TLSConfig = tlsConf
		}
		return o, nil
	case asynq.RedisFailoverClientOpt:
		q := u.Query()
		if o.MasterName == "" {
			return bad("sentinel URL needs ?master=NAME")
		}
		if u.Host == "" {
			return bad("sentinel URL needs sentinel addresses")
		}
		if v := q.Get("db"); v != "" {
			if o.DB, err = strconv.Atoi(v); err != nil || o.DB < 0 {
				return bad("db must be a number")
			}
		}
		o.Password = password
		if on, _ := strconv.ParseBool(q.Get("tls")); on {
			if err := makeTLS(""); err != nil {
				return nil, err
			}
			o.TLSConfig = tlsConf
		}
		return o, nil
	}
	return opt, nil
}

// newRedisClient makes the one client a worker process shares between its
// pools, its inspector and its health checks.
func newRedisClient(opt asynq.RedisConnOpt) (redis.UniversalClient, error) {
	c, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("redis: unsupported connection options %T", opt)
	}
	return c, nil
}
