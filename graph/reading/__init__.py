"""Reading a prospect's message without a model: every answer it states, in any language the playbook speaks.

A message is folded (case, accents, emoji, curly quotes) and cut into clauses (:mod:`.text`); each question's
answers are found in it by the playbook's own words, exactly or with a small typo (:mod:`.mentions`), a
negated or hedged mention not counting (:mod:`.mentions`); each question type has its reader (:mod:`.slots`);
:mod:`.message` reads them all and settles what one message says (one reading per question, none when two
disagree). :mod:`.language` tells English from the playbook's other languages, offline. Pure: no I/O.
"""
