module github.com/alexarules/alexarules

go 1.26.8

require (
	github.com/gorilla/websocket v1.5.3
	github.com/robfig/cron/v3 v3.0.1
	github.com/teambition/rrule-go v1.8.2
	github.com/yuin/gopher-lua v1.1.2
	go.etcd.io/bbolt v1.5.0
	golang.org/x/oauth2 v0.37.0
)

require golang.org/x/sys v0.45.0 // indirect
