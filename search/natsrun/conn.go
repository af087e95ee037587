package natsrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Options say how to reach and authenticate to the server beyond what the
// URL carries (nats://user:pass@host or nats://token@host).
type Options struct {
	Name  string    // client name the server's monitoring shows
	Creds string    // credentials file (user JWT and NKey seed)
	CA    string    // PEM file of the CA that signed the server's certificate
	Cert  string    // client certificate (mutual TLS), with Key
	Key   string    // client key
	Log   io.Writer // disconnects and reconnects; nil: none
}

func (o Options) natsOptions(who string) []nats.Option {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1), // a server restart must not end a search or a worker
		nats.ReconnectWait(2 * time.Second),
		nats.Timeout(5 * time.Second),
	}
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.CA != "" {
		opts = append(opts, nats.RootCAs(o.CA))
	}
	if o.Cert != "" || o.Key != "" {
		opts = append(opts, nats.ClientCert(o.Cert, o.Key))
	}
	if o.Log != nil {
		opts = append(opts,
			nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
				if err != nil {
					fmt.Fprintf(o.Log, "%s: disconnected: %v; reconnecting\n", who, err)
				}
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) {
				fmt.Fprintf(o.Log, "%s: reconnected to %s\n", who, Redact(nc.ConnectedUrl()))
			}))
	}
	return opts
}

// Connect connects once.
func Connect(serverURL string, o Options) (*nats.Conn, error) {
	nc, err := nats.Connect(serverURL, o.natsOptions("nats")...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Redact(serverURL), explain(serverURL, err))
	}
	return nc, nil
}

// Backoff is how long to wait between attempts: Min, doubling up to Max.
type Backoff struct{ Min, Max time.Duration }

// DefaultBackoff waits 1 s, 2 s, 4 s … up to a minute.
var DefaultBackoff = Backoff{Min: time.Second, Max: time.Minute}

// ConnectRetry connects, retrying with backoff until it succeeds or ctx
// ends. Every failed attempt is reported on log as
// "WHO: URL: REASON; retrying in D", so that a worker started before its
// server says what it is waiting for.
func ConnectRetry(ctx context.Context, serverURL string, o Options, b Backoff, who string, log io.Writer) (*nats.Conn, error) {
	if log == nil {
		log = io.Discard
	}
	wait := max(b.Min, time.Millisecond)
	for {
		nc, err := nats.Connect(serverURL, o.natsOptions(who)...)
		if err == nil {
			return nc, nil
		}
		err = explain(serverURL, err)
		var perm permanentError
		if errors.As(err, &perm) {
			return nil, fmt.Errorf("%s: %w", Redact(serverURL), err)
		}
		fmt.Fprintf(log, "%s: %s: %v; retrying in %v\n", who, Redact(serverURL), err, wait)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w (gave up: %v)", Redact(serverURL), err, ctx.Err())
		case <-time.After(wait):
		}
		if b.Max > 0 {
			wait = min(2*wait, b.Max)
		} else {
			wait *= 2
		}
	}
}

type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

// explain replaces nats.go's "no servers available" by the reason the
// first server could not be reached (connection refused, no such host),
// which is what someone starting a worker needs to read. Errors no retry
// can fix (a bad URL, a missing credentials file, refused credentials)
// are marked permanent.
func explain(serverURL string, err error) error {
	var badURL *url.Error
	switch {
	case errors.As(err, &badURL) || strings.Contains(err.Error(), "no such file"):
		return permanentError{err}
	case errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked):
		return permanentError{err}
	case !errors.Is(err, nats.ErrNoServers):
		return err
	}
	first, _, _ := strings.Cut(serverURL, ",")
	u, perr := url.Parse(strings.TrimSpace(first))
	if perr != nil || u.Host == "" {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "4222")
	}
	c, derr := net.DialTimeout("tcp", host, 2*time.Second)
	if derr != nil {
		return derr
	}
	c.Close()
	return err
}

// Redact hides the user, password or token of every URL in a
// comma-separated server list, for logs.
func Redact(serverURL string) string {
	parts := strings.Split(serverURL, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		u.User = url.User("REDACTED")
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
