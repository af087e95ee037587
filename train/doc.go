// Package train trains and evaluates classifiers: the loop that every
// autodropout trial, baseline and final run goes through.
//
// The loop returns errors instead of exiting (a diverging child model is a
// recorded failure, not a crash of the search), drops each step's tensors
// as soon as they are used, and reports progress at a steady pace.
package train
