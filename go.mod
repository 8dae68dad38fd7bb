module github.com/vswitch/vswitch

go 1.26
