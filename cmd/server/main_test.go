package main

import "testing"

func TestConfigPrecedence(t *testing.T) {
	env := map[string]string{"PORT": "4000", "HOST": "127.0.0.1"}
	getenv := func(k string) string { return env[k] }
	cfg, err := loadConfig(nil, getenv)
	if err != nil || cfg.port != 4000 || cfg.host != "127.0.0.1" {
		t.Fatalf("env: %+v, %v", cfg, err)
	}
	cfg, err = loadConfig([]string{"--port", "5000"}, getenv)
	if err != nil || cfg.port != 5000 || cfg.host != "127.0.0.1" {
		t.Fatalf("flag over env: %+v, %v", cfg, err)
	}
	cfg, err = loadConfig(nil, func(string) string { return "" })
	if err != nil || cfg.port != 3000 || cfg.host != "0.0.0.0" {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	if _, err := loadConfig(nil, func(k string) string { return map[string]string{"PORT": "x"}[k] }); err == nil {
		t.Fatal("PORT=x accepted")
	}
}
