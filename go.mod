module github.com/vswitch/vswitch

go 1.26

require (
	github.com/gopacket/gopacket v1.7.7 // indirect
	github.com/puzpuzpuz/xsync/v4 v4.5.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)
