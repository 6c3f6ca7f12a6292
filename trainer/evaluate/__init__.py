"""Downstream evaluation: dataset readers (EuroSAT, OSCD), fixed splits and whole-split metrics."""
