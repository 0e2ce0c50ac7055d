"""From photos to latents, one sub-package per concern (imports point down this list):

* :mod:`inversion.common`: project-wide errors, devices, photo reading and output files;
* :mod:`inversion.assets`: third-party weights (resolver, cache, safe loaders);
* :mod:`inversion.networks`: the StyleGAN2/StyleGAN3 generators and the discriminator;
* :mod:`inversion.checkpoints`: loading and saving generators and tensor files safely;
* :mod:`inversion.faces`: face detection (MTCNN, dlib HOG), 68 landmarks and alignment;
* :mod:`inversion.projection`: LPIPS, the projector, pivotal tuning and the encoder;
* :mod:`inversion.latents_file`: the latents file, the contract between ``invert`` and ``animate``.
"""
