#!/usr/bin/env bash
# check-report.sh DIR: open DIR/report.html in headless Chromium (Debian's), check that the page
# loads and that every image renders, and save a screenshot as DIR/report-screenshot.png.
set -euo pipefail
dir=${1:?usage: check-report.sh REPORT_DIR}
html=$dir/report.html
[[ -f $html ]] || { echo "check-report: no $html" >&2; exit 1; }
if ! command -v chromium >/dev/null; then
	echo "check-report: installing Debian's chromium" >&2
	sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
	$sudo apt-get install -y -q --no-install-recommends chromium >/dev/null
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
	--disable-component-update --disable-sync --user-data-dir="$profile" --virtual-time-budget=10000)
# A copy of the page that reports in its title how many images decoded.
probe=$profile/probe.html
cp "$html" "$probe"
cat >>"$probe" <<'JS'
<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.title = "images " + ok + "/" + imgs.length;
});
</script>
JS
got=$(chromium "${flags[@]}" --dump-dom "file://$(realpath "$probe")" 2>/dev/null | grep -o '<title>images [0-9]*/[0-9]*</title>' || true)
counts=${got#<title>images }; counts=${counts%</title>}; ok=${counts%/*}; total=${counts#*/}
if [[ -z $got || $ok != "$total" || $total -eq 0 ]]; then
	echo "check-report: $html: ${got:-the page did not load} (want every image rendered)" >&2
	exit 1
fi
chromium "${flags[@]}" --window-size=1280,4000 --screenshot="$(realpath "$dir")/report-screenshot.png" "file://$(realpath "$html")" >/dev/null 2>&1
echo "check-report: $html loads, $ok/$total images render; screenshot $dir/report-screenshot.png"
