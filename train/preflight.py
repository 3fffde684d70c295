"""What `edgeport-train` checks before TensorFlow is imported, so that a missing file, a bad column or a
one-class folder is answered in about a second rather than after TensorFlow's start-up.

The checks read the user's files with the same functions training uses (nothing here imports TensorFlow);
training reads them again, which costs little next to the training itself."""

from __future__ import annotations

import os
from pathlib import Path

from edgeport.train import data as datasets
from edgeport.train import texts
from edgeport.train.recipes import ImageRecipe, TextRecipe


def check_text_files(train: Path, test: Path | None, columns: texts.TextColumns) -> None:
    """The texts parse, their labels name at least two classes, and the test file's labels are among them."""
    labelled = texts.read_texts(train, columns)
    names = texts.class_names(labelled.labels)
    y = texts.label_indices(labelled.labels, names, labelled.source)
    if test is None:
        texts.check_stratifiable(y, names, labelled.source)
        return
    texts.check_two_classes(names, labelled.source)
    held = texts.read_texts(test, columns)
    texts.label_indices(held.labels, names, held.source)


def check_image_folders(train: Path, test: Path | None) -> None:
    """Both folders hold class sub-folders of images; the test folder has the training folder's classes."""
    names = datasets.list_image_folder(train).class_names
    test_names = datasets.list_image_folder(test).class_names if test is not None else names
    if test_names != names:
        raise datasets.DataError(f"the test folder {test} has classes {', '.join(test_names)} but the training folder "
                                 f"{train} has {', '.join(names)}; give both the same class sub-folders")


def check_inputs(recipe: TextRecipe | ImageRecipe, data: str | None, test: str | None, columns: texts.TextColumns,
                 data_dir: str | os.PathLike | None) -> None:
    """Raise `DataNotFoundError` or `DataError` for any input training would refuse later."""
    if data_dir is not None:
        datasets.data_dirs(data_dir)
    if isinstance(recipe, ImageRecipe):
        weights = recipe.base_weights
        if weights not in ("imagenet", "none") and not Path(weights).is_file():
            raise datasets.DataNotFoundError(f"base weights file {weights} does not exist; pass imagenet, none or an .h5 path")
        if data:
            check_image_folders(Path(data), Path(test) if test else None)
    elif data:
        check_text_files(Path(data), Path(test) if test else None, columns)
