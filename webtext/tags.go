package webtext

import "golang.org/x/net/html/atom"

// blockBreak is how many line breaks an element asks for around itself:
// 2 (a blank line) for paragraphs and the like, 1 for other blocks, 0 for
// inline elements.
func blockBreak(a atom.Atom, lists int) int {
	switch a {
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
		atom.Pre, atom.Listing, atom.Blockquote, atom.Table, atom.Dl, atom.Figure,
		atom.Details, atom.Fieldset, atom.Address, atom.Hr:
		return 2
	case atom.Ul, atom.Ol, atom.Menu, atom.Dir:
		if lists == 0 {
			return 2
		}
		return 1
	case atom.Div, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Nav,
		atom.Main, atom.Aside, atom.Li, atom.Dt, atom.Dd, atom.Tr, atom.Caption,
		atom.Figcaption, atom.Summary, atom.Center, atom.Hgroup, atom.Dialog,
		atom.Form, atom.Body, atom.Html, atom.Legend, atom.Search:
		return 1
	}
	return 0
}

// hides says the element's content is never shown as text.
func hides(a atom.Atom) bool {
	switch a {
	case atom.Svg, atom.Math, atom.Template, atom.Select, atom.Datalist,
		atom.Audio, atom.Video, atom.Canvas, atom.Object, atom.Frameset:
		return true
	}
	return false
}

func void(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img, atom.Input,
		atom.Link, atom.Meta, atom.Param, atom.Source, atom.Track, atom.Wbr, atom.Keygen:
		return true
	}
	return false
}

// closesP says the start tag a ends an open <p>.
func closesP(a atom.Atom) bool {
	switch a {
	case atom.Address, atom.Article, atom.Aside, atom.Blockquote, atom.Details,
		atom.Dialog, atom.Dir, atom.Div, atom.Dl, atom.Fieldset, atom.Figcaption,
		atom.Figure, atom.Footer, atom.Form, atom.H1, atom.H2, atom.H3, atom.H4,
		atom.H5, atom.H6, atom.Header, atom.Hgroup, atom.Hr, atom.Main, atom.Menu,
		atom.Nav, atom.Ol, atom.P, atom.Pre, atom.Listing, atom.Section, atom.Summary,
		atom.Table, atom.Ul, atom.Li, atom.Dd, atom.Dt, atom.Search:
		return true
	}
	return false
}

// pScope are the elements past which a start tag does not close a <p>.
var pScope = is(atom.Button, atom.Table, atom.Td, atom.Th, atom.Caption,
	atom.Html, atom.Object, atom.Template, atom.Marquee, atom.Applet)

func is(atoms ...atom.Atom) func(atom.Atom) bool {
	return func(a atom.Atom) bool {
		for _, b := range atoms {
			if a == b {
				return true
			}
		}
		return false
	}
}

func isHeading(a atom.Atom) bool { return headingLevel(a) > 0 }

func headingLevel(a atom.Atom) int {
	switch a {
	case atom.H1:
		return 1
	case atom.H2:
		return 2
	case atom.H3:
		return 3
	case atom.H4:
		return 4
	case atom.H5:
		return 5
	case atom.H6:
		return 6
	}
	return 0
}
