package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/storage"
)

func init() {
	register("storage", "format and inspect log directories (like kafka-storage.sh)", runStorage)
}

// runStorage mirrors kafka-storage.sh: `random-uuid`, `format` and `info`,
// with the same flag names (long and short) so scripts written for AK work.
func runStorage(args []string) int {
	return storageMain(args, os.Stdout, os.Stderr)
}

func storageMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: samsa storage {random-uuid | format -t ID -c FILE [--ignore-formatted] | info -c FILE}")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "random-uuid":
		fmt.Fprintln(stdout, storage.RandomUUID())
		return 0
	case "format":
		return storageFormat(args[1:], stdout, stderr)
	case "info":
		return storageInfo(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "samsa storage: unknown subcommand %q (want random-uuid, format or info)\n", args[0])
	return 2
}

// stringFlag registers one string flag under a long and a short name.
func stringFlag(fs *flag.FlagSet, long, short, usage string) *string {
	p := new(string)
	fs.StringVar(p, long, "", usage)
	if short != "" {
		fs.StringVar(p, short, "", usage+" (short for --"+long+")")
	}
	return p
}

func boolFlag(fs *flag.FlagSet, long, short, usage string) *bool {
	p := new(bool)
	fs.BoolVar(p, long, false, usage)
	if short != "" {
		fs.BoolVar(p, short, false, usage+" (short for --"+long+")")
	}
	return p
}

func storageFormat(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("samsa storage format", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := stringFlag(fs, "config", "c", "the server.properties file to read log.dirs and node.id from (required)")
	clusterID := stringFlag(fs, "cluster-id", "t", "the cluster id, from `samsa storage random-uuid` (required)")
	ignore := boolFlag(fs, "ignore-formatted", "g", "succeed when a directory is already formatted, formatting the others")
	release := stringFlag(fs, "release-version", "r", "accepted for compatibility; samsa formats with its own metadata.version")
	standalone := boolFlag(fs, "standalone", "s", "accepted for compatibility: format this controller as the only voter of a dynamic quorum")
	initial := stringFlag(fs, "initial-controllers", "I", "accepted for compatibility (dynamic quorum voters)")
	noInitial := boolFlag(fs, "no-initial-controllers", "N", "accepted for compatibility (join a dynamic quorum)")
	var features featureFlags
	fs.Var(&features, "feature", "accepted for compatibility (feature=level)")
	fs.Var(&features, "f", "short for --feature")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	_, _, _, _ = release, standalone, initial, noInitial
	if *cfgFile == "" || *clusterID == "" {
		fmt.Fprintln(stderr, "samsa storage format: --config (-c) and --cluster-id (-t) are required")
		return 2
	}
	cfg, warnings, err := config.Load(config.LoadOptions{File: *cfgFile})
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	err = storage.FormatWith(storage.FormatOptions{
		Dirs:            cfg.LogDirs,
		MetadataDir:     cfg.MetadataLogDir,
		ClusterID:       *clusterID,
		NodeID:          cfg.NodeID,
		IgnoreFormatted: *ignore,
		Out:             stdout,
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// featureFlags collects the repeatable --feature flag.
type featureFlags []string

func (m *featureFlags) String() string     { return strings.Join(*m, ",") }
func (m *featureFlags) Set(v string) error { *m = append(*m, v); return nil }

func storageInfo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("samsa storage info", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := stringFlag(fs, "config", "c", "the server.properties file to read log.dirs from (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cfgFile == "" {
		fmt.Fprintln(stderr, "samsa storage info: --config (-c) is required")
		return 2
	}
	cfg, _, err := config.Load(config.LoadOptions{File: *cfgFile})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	dirs := append([]string{cfg.MetadataLogDir}, cfg.LogDirs...)
	seen := map[string]bool{}
	var problems []string
	var found []storage.MetaProperties
	var foundDirs []string
	for _, d := range dirs {
		if seen[filepath.Clean(d)] {
			continue
		}
		seen[filepath.Clean(d)] = true
		mp, err := storage.ReadMetaProperties(d)
		switch {
		case errors.Is(err, storage.ErrUnformatted):
			problems = append(problems, fmt.Sprintf("%s is not formatted.", d))
		case err != nil:
			problems = append(problems, err.Error())
		default:
			found = append(found, mp)
			foundDirs = append(foundDirs, d)
			if mp.NodeID != cfg.NodeID {
				problems = append(problems, fmt.Sprintf("%s: node.id %d does not match the configured node.id %d", d, mp.NodeID, cfg.NodeID))
			}
			if len(found) > 1 && mp.ClusterID != found[0].ClusterID {
				problems = append(problems, fmt.Sprintf("%s: cluster.id %s differs from %s in %s", d, mp.ClusterID, found[0].ClusterID, foundDirs[0]))
			}
		}
	}
	if len(foundDirs) > 0 {
		fmt.Fprintln(stdout, "Found log directories:")
		for _, d := range foundDirs {
			fmt.Fprintln(stdout, "  "+d)
		}
		fmt.Fprintln(stdout)
		mp := found[0]
		fmt.Fprintf(stdout, "Found metadata: {cluster.id=%s, directory.id=%s, node.id=%d, version=%d}\n\n",
			mp.ClusterID, mp.DirectoryID, mp.NodeID, mp.Version)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "Found problem%s:\n", plural(len(problems)))
		for _, p := range problems {
			fmt.Fprintln(stdout, "  "+p)
		}
		fmt.Fprintln(stdout)
		return 1
	}
	return 0
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
