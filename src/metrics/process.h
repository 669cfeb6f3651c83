/* Standard process metrics, named and defined as the Prometheus Go client's
 * process collector (client_golang prometheus/process_collector.go) so that
 * dashboards built for Go services work unchanged:
 *
 *   process_cpu_seconds_total       user + system CPU time (/proc/self/stat)
 *   process_resident_memory_bytes   RSS pages x page size (/proc/self/stat)
 *   process_virtual_memory_bytes    vsize (/proc/self/stat)
 *   process_open_fds                entries of /proc/self/fd
 *   process_max_fds                 soft RLIMIT_NOFILE ("Max open files")
 *   process_start_time_seconds      btime (/proc/stat) + starttime ticks
 *
 * plus pprofgate_build_info{version,compiler} = 1.
 *
 * Values are read at each render by a collector owned by the registry. */
#ifndef PG_METRICS_PROCESS_H
#define PG_METRICS_PROCESS_H

#include "src/metrics/metrics.h"
#include "src/util/err.h"

/* Declares the families and registers the collector. Linux only (needs /proc);
 * fails with PG_EIO when /proc/self/stat or /proc/stat cannot be read. */
PG_WUR int pg_metrics_process_register(struct pg_metrics *m);

#endif
