// Package services gives every long-running Hearth component one lifecycle:
// Created → Starting → Running → Stopping → Terminated (or Failed).
//
// A component is a [Service] built with [New] from three functions: start
// prepares it (joins a ring, replays a WAL), run does its work until its
// context is cancelled, stop releases what start took. A [Manager] starts
// services in dependency order, waits for each to be Running before starting
// the next, and stops them in reverse order. Readiness is "Running".
package services
