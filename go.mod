module github.com/abrfleet/abrfleet

go 1.26.0

require (
	github.com/asticode/go-astiav v0.42.0
	github.com/grafov/m3u8 v0.12.1
	github.com/montanaflynn/stats v0.14.0
	golang.org/x/sync v0.24.0
	gopkg.in/yaml.v3 v3.0.1
)

require github.com/asticode/go-astikit v0.42.0 // indirect
