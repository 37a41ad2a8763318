// FFmpeg's log callback for RouteFFmpegLogs. go-astiav's own callback leaks the string it
// formats for every message (v0.42.0 log.c: vasprintf without free), which a long-running
// worker cannot afford; this one formats into a stack buffer.
#include <stdarg.h>
#include <stdio.h>
#include <libavutil/log.h>
#include "_cgo_export.h"

static void abrfleet_log_callback(void *ptr, int level, const char *fmt, va_list vl)
{
	if (level > av_log_get_level())
		return;
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, vl);
	const char *cls = "";
	if (ptr) {
		AVClass *avc = *(AVClass **)ptr;
		if (avc && avc->class_name)
			cls = avc->class_name;
	}
	goFFmpegLog((char *)cls, level, msg);
}

void abrfleet_set_log_callback(void)
{
	av_log_set_callback(abrfleet_log_callback);
}
