package controller

import "github.com/gohands/gohands/event"

// imageNote takes the place of an image for a model that takes none.
const imageNote = "[an image is not shown: this model takes no images]"

// withoutImages returns messages with each image part replaced by a note,
// for a model that takes no images (LLM.DisableVision); messages without
// images are shared, not copied.
func withoutImages(msgs []event.LLMMessage) []event.LLMMessage {
	var out []event.LLMMessage
	for i, m := range msgs {
		if !hasImage(m.Content) {
			if out != nil {
				out = append(out, m)
			}
			continue
		}
		if out == nil {
			out = append(make([]event.LLMMessage, 0, len(msgs)), msgs[:i]...)
		}
		content := make(event.ContentList, 0, len(m.Content))
		for _, c := range m.Content {
			if c.Type == event.ContentImage {
				c = event.Content{Type: event.ContentText, Text: imageNote}
			}
			content = append(content, c)
		}
		m.Content = content
		out = append(out, m)
	}
	if out == nil {
		return msgs
	}
	return out
}

func hasImage(content event.ContentList) bool {
	for _, c := range content {
		if c.Type == event.ContentImage {
			return true
		}
	}
	return false
}
