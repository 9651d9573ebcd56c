package session

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"

	"github.com/gohands/gohands/event"
)

// trajectoryPage is how many events WriteTrajectory reads at a time.
const trajectoryPage = 500

// WriteTrajectory writes the conversation's trajectory to w as a zip, in
// upstream's layout: base_state.json (the conversation as GET shows it)
// and events/event-NNNNN-ID.json, one file per stored event (secrets
// hidden as stored), in order. Events are read a page at a time.
func (a *AgentSession) WriteTrajectory(w io.Writer) error {
	zw := zip.NewWriter(w)
	info, err := json.MarshalIndent(a.Info(), "", "  ")
	if err != nil {
		return fmt.Errorf("encode conversation: %w", err)
	}
	f, err := zw.Create("base_state.json")
	if err != nil {
		return err
	}
	if _, err := f.Write(info); err != nil {
		return err
	}
	var after int64
	n := 0
	for {
		evs, err := a.EventsAfter(after, trajectoryPage)
		if err != nil {
			return err
		}
		for _, e := range evs {
			raw, err := event.Marshal(e)
			if err != nil {
				return fmt.Errorf("encode event: %w", err)
			}
			f, err := zw.Create(fmt.Sprintf("events/event-%05d-%s.json", n, e.Meta().ID))
			if err != nil {
				return err
			}
			if _, err := f.Write(raw); err != nil {
				return err
			}
			n++
			after = e.Meta().Seq
		}
		if len(evs) < trajectoryPage {
			return zw.Close()
		}
	}
}
