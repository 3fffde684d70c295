"""The user's own texts (`edgeport-train text --data PATH [--test PATH]`) → the task's model-ready ids."""

from __future__ import annotations

import sys

import numpy as np

from edgeport.train import data as datasets
from edgeport.train import texts
from edgeport.train.recipes import INDEX_FROM, TextRecipe
from edgeport.train.task_data import TaskData, UserData


def load_user_texts(recipe: TextRecipe, user: UserData, seed: int) -> TaskData:
    """The user's texts: a stratified fifth held out unless `user.test` is given; the vocabulary learned
    from the training split; ids made by the device tokeniser's rules."""
    train = texts.read_texts(user.train, user.columns)
    names = texts.class_names(train.labels)
    y = texts.label_indices(train.labels, names, train.source)
    if user.test is not None:
        texts.check_two_classes(names, train.source)  # as the preflight checks it: before the test file is read
        test = texts.read_texts(user.test, user.columns)
        train_texts, y_train = train.texts, y
        test_texts, y_test = test.texts, texts.label_indices(test.labels, names, test.source)
        source = f"{train.source} (test: {test.source})"
    else:
        texts.check_stratifiable(y, names, train.source)
        keep, held = datasets.stratified_split(y, 0.2, seed)
        train_texts, y_train = [train.texts[i] for i in keep], y[keep]
        test_texts, y_test = [train.texts[i] for i in held], y[held]
        source = f"{train.source} (test: a stratified fifth, seed {seed})"
    # A canonical order, then a seeded shuffle: the validation cut (the last fraction, as Keras takes it)
    # sees every class even when the file or folder lists the texts class by class, and the same texts
    # train the same model whatever order they came in.
    order = sorted(range(len(train_texts)), key=lambda i: (train_texts[i], int(y_train[i])))
    order = [order[i] for i in np.random.RandomState(seed).permutation(len(order))]
    train_texts, y_train = [train_texts[i] for i in order], np.asarray(y_train)[order]
    split = texts.text_spec(recipe.num_words, recipe.maxlen, recipe.truncating, recipe.tokenizer)
    share = texts.non_ascii_share(train_texts) if recipe.tokenizer == "mediapipe" else 0.0
    if share > 0.05:
        print(f"text: {share:.0%} of the letters are not ASCII, and MediaPipe's tokenizer (the default, for phones) "
              "splits words there; for such texts pass --tokenizer keras (not phone-ready, docs/phone.md)", file=sys.stderr)
    vocabulary = texts.learn_vocabulary(train_texts, recipe.num_words, split)
    # The embedding has a row per id a word can reach (reserved ids included), at most --num-words.
    spec = {**split, "num_words": min(recipe.num_words, len(vocabulary) + INDEX_FROM + 1)}
    return TaskData(
        x_train=texts.encode_texts(train_texts, vocabulary, spec),
        y_train=y_train,
        x_test=texts.encode_texts(test_texts, vocabulary, spec),
        y_test=y_test,
        labels=names,
        preprocessing=spec,
        vocabulary=vocabulary,
        source=source,
        extra={"vocabulary_in_data": len(vocabulary) + INDEX_FROM + 1},
    )
