package config

// Config is a placeholder until the config package lands.
type Config struct{}
