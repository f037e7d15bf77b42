// Package probe holds the telemetry probes that read the machine and the
// engine — the host (CPU and memory, and the engine's process tree), a
// Prometheus /metrics page, and a command printing "name value" lines —
// and the table of probe kinds a scenario names (telemetry.probes), which
// extensions add to. The sampler and the summaries stay in package
// telemetry, light enough for the report code to read telemetry files
// without the probes' dependencies (gopsutil, the Prometheus parser).
package probe
