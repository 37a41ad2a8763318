package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/abrfleet/abrfleet/reports"
	"github.com/abrfleet/abrfleet/transcode"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// describeMachine records what was measured: the instance type and region (from the flag, else
// from EC2's instance metadata service with a short timeout), CPU, memory, GPUs and versions.
func describeMachine(ctx context.Context, instanceType, region string) reports.Machine {
	m := reports.Machine{
		InstanceType: instanceType, Region: region, InstanceSource: "flag",
		Cores: runtime.NumCPU(), CPUModel: cpuModel(), MemoryMB: memoryMB(), GPUs: nvidiaGPUs(),
		FFmpegVersion: transcode.FFmpegVersion(), FFmpegConfiguration: transcode.FFmpegConfiguration(),
		ProjectVersion: projectVersion(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
	}
	if instanceType == "" {
		m.InstanceSource = "unknown"
		if t, r, ok := fromIMDS(ctx); ok {
			m.InstanceType, m.InstanceSource = t, "imds"
			if m.Region == "" {
				m.Region = r
			}
		}
	}
	if m.Region == "" {
		m.Region = "us-east-1"
	}
	return m
}

// fromIMDS asks IMDSv2 for the instance type and region; off EC2 it gives up within a second.
func fromIMDS(ctx context.Context) (instanceType, region string, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c := imds.New(imds.Options{})
	out, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: "instance-type"})
	if err != nil {
		return "", "", false
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, 128))
	if err != nil || len(b) == 0 {
		return "", "", false
	}
	if r, err := c.GetRegion(ctx, &imds.GetRegionInput{}); err == nil {
		region = r.Region
	}
	return strings.TrimSpace(string(b)), region, true
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memoryMB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(f[1])
			return kb / 1024
		}
	}
	return 0
}

// nvidiaGPUs lists the models the NVIDIA driver reports, none without one.
func nvidiaGPUs() []string {
	var gpus []string
	dirs, _ := filepath.Glob("/proc/driver/nvidia/gpus/*/information")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "Model" {
				gpus = append(gpus, strings.TrimSpace(v))
			}
		}
	}
	return gpus
}

func projectVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return bi.Main.Version
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
