"""DCGAN generators and discriminators (unconditional and class-conditional) for 28x28 and 64x64 images."""
