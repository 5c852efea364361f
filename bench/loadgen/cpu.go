package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat. The kernel
// exports these in USER_HZ, which is fixed at 100 on every architecture
// Linux exposes to user space, whatever CONFIG_HZ the kernel was built with.
const userHZ = 100

// procCPUSeconds returns the user plus system CPU time that process pid has
// used so far, summed over all its threads, in seconds.
//
// The load generator and the broker share the same cores, so throughput alone
// says little about a broker's cost; its CPU time per byte moved does.
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}

// parseProcStat extracts utime+stime from the contents of /proc/<pid>/stat.
// The second field, the command name, is parenthesised and may itself hold
// spaces or parentheses, so fields are counted from the last ')'.
func parseProcStat(b []byte) (float64, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, fmt.Errorf("proc stat: no command name in %q", truncate(b))
	}
	// After ")": state is field 3, so utime (field 14) and stime (field 15)
	// are at indexes 11 and 12 of the remaining fields.
	fields := bytes.Fields(b[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	utime, err := strconv.ParseUint(string(fields[11]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat utime: %w", err)
	}
	stime, err := strconv.ParseUint(string(fields[12]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat stime: %w", err)
	}
	return float64(utime+stime) / userHZ, nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// cpuMeter samples a process's CPU time; a zero pid measures nothing, for
// targets whose process we do not know (a remote broker).
type cpuMeter struct{ pid int }

func (m cpuMeter) sample() (float64, error) {
	if m.pid <= 0 {
		return 0, nil
	}
	return procCPUSeconds(m.pid)
}
