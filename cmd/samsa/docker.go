package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/samsa-io/samsa/internal/config"
)

// samsa docker-entrypoint: what the container image runs. It keeps the
// apache/kafka image's contract, so that a compose file written for that
// image works with only `image:` changed:
//
//   - arguments KEY=VALUE are exported first (the image's `run` script);
//   - CLUSTER_ID defaults to the image's own default id when unset or empty;
//   - a controller-only node (KAFKA_PROCESS_ROLES=controller) refuses a
//     non-empty KAFKA_ADVERTISED_LISTENERS, and an empty one is dropped;
//   - KAFKA_LISTENERS, when unset or empty on a node that is not
//     controller-only, is KAFKA_ADVERTISED_LISTENERS with every host
//     replaced by 0.0.0.0;
//   - the configuration is a mounted /mnt/shared/config/server.properties
//     with the KAFKA_* variables on top; without a mounted file, the
//     variables alone (Kafka's defaults for every key they leave out); with
//     neither, the image's default file, one combined node;
//   - Kafka's JVM and log4j variables (KAFKA_HEAP_OPTS, KAFKA_OPTS,
//     KAFKA_JVM_PERFORMANCE_OPTS, ...) are accepted and ignored, and mounted
//     log4j files are ignored: KAFKA_LOG4J_ROOT_LOGLEVEL sets the level;
//   - storage is formatted on every start with CLUSTER_ID, a no-op when
//     already formatted (samsa serve does it; a formatted directory with
//     another cluster id is refused rather than silently kept);
//   - logs go to stdout; SIGTERM is a controlled shutdown within Docker's
//     default 10 s grace (samsa serve).

func init() {
	register("docker-entrypoint", "the container image's entrypoint: apache/kafka's env and mounted-config contract, then serve", runDockerEntrypoint)
}

// defaultClusterID is the apache/kafka image's CLUSTER_ID when none is set.
const defaultClusterID = "5L6g3nShT-eMCtK--X86sw"

// Where the image keeps its files; flags override them (tests do).
const (
	dockerDefaultConfig = "/etc/samsa/docker/server.properties"
	dockerMountedDir    = "/mnt/shared/config"
)

// emptyConfig is the configuration file of a node configured by KAFKA_*
// variables alone: an empty file, so that Kafka's defaults, not samsa's
// embedded single node, fill in what the variables leave out.
const emptyConfig = os.DevNull

// dockerSetup is the outcome of the image's configuration steps.
type dockerSetup struct {
	File   string            // the config file to load (the env goes on top)
	Env    map[string]string // the environment after the steps
	Source string            // where the configuration came from, for the log
}

// dockerFlags registers the flags the entrypoint and the healthcheck share.
func dockerFlags(fs *flag.FlagSet) (defaultConfig, mountedDir *string) {
	defaultConfig = fs.String("default-config", dockerDefaultConfig, "the configuration used when neither a mounted file nor KAFKA_* variables give one")
	mountedDir = fs.String("mounted-config-dir", dockerMountedDir, "where a mounted server.properties takes precedence (KAFKA_* variables go on top)")
	return
}

// prepareDocker applies the image's steps to environ and args and picks
// the configuration file. It only reads the filesystem.
func prepareDocker(environ, args []string, defaultConfig, mountedDir string) (*dockerSetup, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("argument %q: want KEY=VALUE (exported before the configuration is read)", a)
		}
		env[k] = v
	}
	if env["CLUSTER_ID"] == "" {
		env["CLUSTER_ID"] = defaultClusterID
	}
	roles, rolesSet := env["KAFKA_PROCESS_ROLES"]
	if rolesSet && roles == "controller" {
		if env["KAFKA_ADVERTISED_LISTENERS"] != "" {
			return nil, errors.New("KAFKA_ADVERTISED_LISTENERS is not supported on a KRaft controller")
		}
		delete(env, "KAFKA_ADVERTISED_LISTENERS")
	}
	if env["KAFKA_LISTENERS"] == "" && roles != "controller" && env["KAFKA_ADVERTISED_LISTENERS"] != "" {
		// The config package derives the listeners when the variable is
		// unset (the same rule); an empty one counts as unset here.
		delete(env, "KAFKA_LISTENERS")
	}

	var mapped []string
	for k := range env {
		if _, ok := config.EnvKey(k); ok {
			mapped = append(mapped, k)
		}
	}
	sort.Strings(mapped)
	vars := fmt.Sprintf("%d KAFKA_* variable%s", len(mapped), plural(len(mapped)))

	s := &dockerSetup{Env: env}
	mounted := filepath.Join(mountedDir, "server.properties")
	data, err := os.ReadFile(mounted)
	switch {
	case err == nil:
		if strings.TrimSpace(string(data)) == "" && len(mapped) == 0 {
			s.File, s.Source = defaultConfig, defaultConfig+" (the mounted "+mounted+" is empty)"
		} else {
			s.File, s.Source = mounted, mounted+" and "+vars
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("mounted configuration: %w", err)
	case len(mapped) > 0:
		s.File, s.Source = emptyConfig, vars+" (Kafka's defaults for the rest)"
	default:
		s.File, s.Source = defaultConfig, defaultConfig
	}
	return s, nil
}

// environ returns s.Env as os.Environ does.
func (s *dockerSetup) environ() []string {
	out := make([]string, 0, len(s.Env))
	for k, v := range s.Env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// apply makes s.Env the process environment, which serve reads.
func (s *dockerSetup) apply() error {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "" {
			if _, keep := s.Env[k]; !keep {
				os.Unsetenv(k)
			}
		}
	}
	for k, v := range s.Env {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

const dockerUsage = `usage: samsa docker-entrypoint [KEY=VALUE ...]

The container image's entrypoint (apache/kafka's contract): KAFKA_*
environment variables are Kafka properties (KAFKA_NUM_PARTITIONS is
num.partitions); a server.properties mounted in /mnt/shared/config is the
base they go on top of; without one, the variables alone are the
configuration (Kafka's defaults fill in the rest); with neither, the image's
default single combined node. CLUSTER_ID formats empty storage (default
` + defaultClusterID + `). Kafka's JVM variables are ignored. KEY=VALUE
arguments are set in the environment first. Then it runs samsa serve.

`

func runDockerEntrypoint(args []string) int {
	// The container's log is stdout, as the apache/kafka image's is.
	os.Stderr = os.Stdout
	fs := flag.NewFlagSet("docker-entrypoint", flag.ContinueOnError)
	defaultConfig, mountedDir := dockerFlags(fs)
	fs.Usage = func() { fmt.Fprint(fs.Output(), dockerUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	s, err := prepareDocker(os.Environ(), fs.Args(), *defaultConfig, *mountedDir)
	if err != nil {
		fmt.Fprintf(os.Stdout, "samsa docker-entrypoint: %v\n", err)
		return 1
	}
	if err := s.apply(); err != nil {
		fmt.Fprintf(os.Stdout, "samsa docker-entrypoint: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stdout, "samsa docker-entrypoint: configuration from %s; cluster id %s; user %d\n", s.Source, s.Env["CLUSTER_ID"], os.Getuid())
	return runServe([]string{"-c", s.File})
}
