//! A model type read straight from a document of the simple shape, without
//! the tree.
//!
//! [`super::parse`] and [`super::from_node`] build a tree with a mark on
//! every node, then a value from it, so that every problem is reported
//! where it is. For a document with no problem, both are work thrown away:
//! reading a CDI spec that way cost about ten times what reading it
//! straight into its types does. [`read`] does the latter, and answers only
//! when [`super::from_node`] of [`super::parse`] would give the same value
//! without a single error: it gives up (`None`) where the simple reader
//! does, and on anything the conversion would report (an unknown or
//! repeated field, a missing one, a value of the wrong type or range). The
//! caller then reads the document the long way, which reports it.
//!
//! Types say how they are read by [`Direct`]; structs get it from
//! [`crate::from_node_struct!`]'s `direct` form, from the same field list
//! as their [`super::FromNode`].

use super::simple::{self, Piece};
use super::{ParseOptions, Value, typed};

/// The pieces of one document and how far they have been read.
pub struct Pieces<'s> {
    list: Vec<Piece<'s>>,
    at: usize,
    opts: ParseOptions,
}

/// A type read from [`Pieces`]: `None` wherever [`super::FromNode`] would
/// fail or record an error, and otherwise the value it builds.
pub trait Direct: Sized {
    /// Reads the value at the current piece and moves past it.
    fn direct(p: &mut Pieces<'_>) -> Option<Self>;
}

/// `T` from `src`, or `None` (see the module's notes).
pub fn read<T: Direct>(src: &str, opts: ParseOptions) -> Option<T> {
    let list = simple::pieces(src, opts)?;
    let mut p = Pieces { list, at: 0, opts };
    let value = T::direct(&mut p)?;
    (p.at == p.list.len()).then_some(value)
}

impl<'s> Pieces<'s> {
    fn next(&mut self) -> Option<Piece<'s>> {
        let piece = *self.list.get(self.at)?;
        self.at += 1;
        Some(piece)
    }

    /// Whether the collection being read ends here (and moves past its
    /// end if so).
    fn at_end(&mut self) -> bool {
        let end = self.list.get(self.at) == Some(&Piece::End);
        self.at += usize::from(end);
        end
    }

    /// Whether the value here is `null` (and moves past it if so).
    fn null(&mut self) -> bool {
        let null = matches!(
            self.list.get(self.at),
            Some(Piece::Plain(s, _)) if matches!(typed(s, self.opts), Some(Value::Null))
        );
        self.at += usize::from(null);
        null
    }

    /// A string: quoted, or plain and not a null, boolean or number.
    /// Moves past it only if it is one.
    fn text(&mut self) -> Option<&'s str> {
        let text = match *self.list.get(self.at)? {
            Piece::Quoted(s, _) => s,
            Piece::Plain(s, _) if typed(s, self.opts).is_none() => s,
            _ => return None,
        };
        self.at += 1;
        Some(text)
    }

    /// A plain scalar that is a null, boolean or number, resolved. Moves
    /// past it only if it is one.
    fn typed(&mut self) -> Option<Value> {
        let Piece::Plain(s, _) = *self.list.get(self.at)? else {
            return None;
        };
        let value = typed(s, self.opts)?;
        self.at += 1;
        Some(value)
    }

    /// How many items the sequence here holds (`None`: no sequence).
    fn seq_len(&self) -> Option<usize> {
        match self.list.get(self.at)? {
            Piece::Seq(_, n) => Some(*n as usize),
            _ => None,
        }
    }

    /// Calls `each` on every item of a sequence.
    fn seq(&mut self, each: &mut dyn FnMut(&mut Self) -> Option<()>) -> Option<()> {
        let Piece::Seq(..) = self.next()? else {
            return None;
        };
        while !self.at_end() {
            each(self)?;
        }
        Some(())
    }

    /// Calls `each` with every key of a mapping, at its value.
    fn map(&mut self, each: &mut dyn FnMut(&'s str, &mut Self) -> Option<()>) -> Option<()> {
        let Piece::Map(_) = self.next()? else {
            return None;
        };
        while !self.at_end() {
            let Piece::Key(key, _) = self.next()? else {
                return None;
            };
            each(key, self)?;
        }
        Some(())
    }

    /// Walks a mapping that holds a struct: `each` gets the number of the
    /// field each key sets (see [`super::Cursor::fields`]). An unknown key
    /// is `None`, as it is an error to the conversion.
    pub fn fields(
        &mut self,
        names: &[(&str, u8)],
        each: &mut dyn FnMut(u8, &mut Pieces<'_>) -> Option<()>,
    ) -> Option<()> {
        self.map(&mut |key, p| {
            let (_, slot) = names.iter().find(|(n, _)| *n == key)?;
            each(*slot, p)
        })
    }
}

/// Sets a struct field with `read`, unless another of its names set it
/// already (an error to the conversion).
#[inline(never)]
pub fn set<T>(
    slot: &mut Option<T>,
    p: &mut Pieces<'_>,
    read: fn(&mut Pieces<'_>) -> Option<T>,
) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(read(p)?);
    Some(())
}

/// The readers of the conversions a field may name instead of its type's
/// own (`[nullable]` in a struct's field list).
pub mod conv {
    use super::{Direct, Pieces};

    /// [`super::super::nullable`]: `null` reads as the default.
    pub fn nullable<T: Direct + Default>(p: &mut Pieces<'_>) -> Option<T> {
        Option::<T>::direct(p).map(Option::unwrap_or_default)
    }
}

impl Direct for String {
    fn direct(p: &mut Pieces<'_>) -> Option<Self> {
        p.text().map(str::to_owned)
    }
}

impl Direct for bool {
    fn direct(p: &mut Pieces<'_>) -> Option<Self> {
        match p.typed()? {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

macro_rules! direct_ints {
    ($($t:ty)*) => {$(
        impl Direct for $t {
            fn direct(p: &mut Pieces<'_>) -> Option<Self> {
                match p.typed()? {
                    Value::Int(n) => <$t>::try_from(n).ok(),
                    _ => None,
                }
            }
        }
    )*};
}

direct_ints!(u8 u16 u32 u64 i8 i32 i64);

impl<T: Direct> Direct for Option<T> {
    fn direct(p: &mut Pieces<'_>) -> Option<Self> {
        if p.null() {
            Some(None)
        } else {
            T::direct(p).map(Some)
        }
    }
}

impl<T: Direct> Direct for Vec<T> {
    fn direct(p: &mut Pieces<'_>) -> Option<Self> {
        let mut out = Vec::with_capacity(p.seq_len().unwrap_or(0));
        p.seq(&mut |p| {
            out.push(T::direct(p)?);
            Some(())
        })?;
        Some(out)
    }
}

impl<T: Direct> Direct for std::collections::BTreeMap<String, T> {
    fn direct(p: &mut Pieces<'_>) -> Option<Self> {
        let mut out = std::collections::BTreeMap::new();
        // The reader refuses a mapping with a key twice, so no insert here
        // replaces another.
        p.map(&mut |key, p| {
            out.insert(key.to_owned(), T::direct(p)?);
            Some(())
        })?;
        Some(out)
    }
}
