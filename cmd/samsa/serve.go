package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/server"
)

func init() {
	register("serve", "run a broker node (default: broker+controller on 127.0.0.1:9092)", runServe)
}

const serveUsage = `usage: samsa serve [-c server.properties] [--override key=value ...]

Reads Kafka's config keys from the file, from KAFKA_* environment variables
(the apache/kafka image's mapping: KAFKA_NUM_PARTITIONS is num.partitions) and
from --override, in that order: a later source wins.

Without a file, and unless one of them sets process.roles, the variables and
overrides apply on top of the embedded default: one node that is broker and
controller at once, PLAINTEXT on 127.0.0.1:9092 (controller on 127.0.0.1:9093),
data in ./samsa-data. So "KAFKA_NUM_PARTITIONS=3 samsa serve" is that node with
three partitions per new topic. A file, or process.roles, makes them a complete
Kafka configuration: Kafka's own defaults fill in the rest.

Several nodes form one cluster as Kafka's KRaft nodes do: the same
controller.quorum.voters on every node, process.roles broker, controller or
both. SIGTERM is a controlled shutdown: leaderships move to other replicas
first. samsa runs static quorums and PLAINTEXT listeners for now: a dynamic
quorum (controller.quorum.bootstrap.servers with several servers), an SSL or
SASL listener and ssl.*/sasl.* keys that expect security are refused at start.

`

// multiFlag collects repeated --override key=value flags.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	file := fs.String("c", "", "server.properties file (Kafka's key names)")
	fs.StringVar(file, "config", "", "alias of -c")
	var overrides multiFlag
	fs.Var(&overrides, "override", "key=value, overrides the file and KAFKA_* environment (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 1 && *file == "" {
		// `samsa serve server.properties`, like kafka-server-start.sh.
		*file = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "samsa serve: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg, warnings, err := config.Load(config.LoadOptions{File: *file, Overrides: overrides, Environ: os.Environ()})
	if err != nil {
		fmt.Fprintf(os.Stderr, "samsa serve: %v\n", err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(cfg.LogLevel)}))
	for _, w := range warnings {
		logger.Warn(w)
	}
	fsys, err := serveFS(logger, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "samsa serve: %v\n", err)
		return 1
	}
	b, err := server.Start(cfg, server.Options{Logger: logger, FS: fsys})
	if err != nil {
		fmt.Fprintf(os.Stderr, "samsa serve: %v\n", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case <-b.Ready():
			logger.Info("samsa node ready", "node.id", cfg.NodeID, "roles", strings.Join(cfg.ProcessRoles, ","))
		case <-b.Failed():
		}
	}()
	select {
	case s := <-sig:
		// Kafka's controlled shutdown: leaderships move away first,
		// within Docker's default 10 s grace.
		logger.Info("shutting down", "signal", s.String())
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		if err := b.Shutdown(ctx); err != nil {
			logger.Warn("controlled shutdown incomplete", "err", err)
		}
		cancel()
	case <-b.Failed():
		logger.Error("stopping", "err", b.Err())
		b.Close()
		return 1
	}
	if err := b.Close(); err != nil {
		logger.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

func logLevel(s string) slog.Level {
	switch strings.ToUpper(s) {
	case "DEBUG", "TRACE":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	}
	return slog.LevelInfo
}
